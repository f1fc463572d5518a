package io.wattlab.trainer.metering;

import io.wattlab.proto.v1.WindowEnergy;

import java.time.Duration;
import java.util.Map;

/**
 * Where a run's energy comes from: windows begun and ended by id on a meter, in this process or
 * in a meter-daemon reached over gRPC. A window's energy is the meter's {@link WindowEnergy}
 * message, whichever side measured it, so both implementations report exactly the same fields.
 */
public interface EnergyMeter extends AutoCloseable {

    /** An open window: the meter's id for it and the instant it began, epoch nanoseconds. */
    record Window(String id, long startNanos) {
    }

    /** Opens a window now; the labels travel with it (the meter may log or tag them). */
    Window begin(Map<String, String> labels);

    /**
     * Closes a window now.
     *
     * @throws MeteringException where the meter no longer knows the window or cannot be reached
     */
    WindowEnergy end(Window window);

    /**
     * Measures idle power: a window held open for {@code duration} while the caller runs nothing.
     *
     * @return the mean power counted in totals over the window, in watts
     */
    default double idlePowerWatts(Duration duration) {
        Window window = begin(Map.of("purpose", "idle"));
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        WindowEnergy energy = end(window);
        return energy.getDurationSeconds() > 0 ? energy.getTotalEnergyJoules() / energy.getDurationSeconds() : 0;
    }

    /** Where the energy comes from, for logs: "in-process (sensors …)" or "meter-daemon at host:port". */
    String describe();

    @Override
    void close();
}
