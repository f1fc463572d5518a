package io.wattlab.meter.sensor;

import io.wattlab.meter.sample.Reading;

import java.util.List;

/**
 * A source of power and energy readings of one kind (NVML, RAPL, estimate). A sensor only reads:
 * it never writes to a sink. Missing hardware is a sensor with no channels and a status saying why,
 * never an exception at construction.
 */
public interface Sensor extends AutoCloseable {

    /** {@code nvml}, {@code rapl} or {@code estimate}: the value of the {@code sensor} tag. */
    String name();

    /**
     * Reads every channel once. Energy is cumulative since the sensor was opened, so two reads
     * give the energy between them by subtraction. Called from one thread at a time.
     *
     * @param timestampNanos the instant of the read, from the daemon's clock; sensors that integrate
     *                       power use it as the time axis
     * @throws SensorException where the read failed; earlier readings stay valid
     */
    List<Reading> read(long timestampNanos) throws SensorException;

    /** What the sensor found, its channels and, when unavailable or degraded, why and how to fix it. */
    SensorStatus status();

    @Override
    default void close() {
    }
}
