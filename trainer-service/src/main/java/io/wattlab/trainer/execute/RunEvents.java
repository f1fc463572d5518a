package io.wattlab.trainer.execute;

import java.util.Map;

/**
 * Where run, phase and epoch events go (InfluxDB, see docs/run-events.md). A sink never fails a
 * run: an implementation logs its own errors and carries on.
 */
public interface RunEvents extends AutoCloseable {

    /**
     * One point.
     *
     * @param measurement {@code run}, {@code run_phase} or {@code run_epoch}
     * @param extraTags   tags besides the run's common ones, such as {@code phase}
     * @param fields      field values: Long/Integer for ints, Double, String
     * @param timeNanos   epoch nanoseconds
     */
    void write(String measurement, Map<String, String> extraTags, Map<String, Object> fields, long timeNanos);

    @Override
    void close();

    /** Nowhere: InfluxDB is not configured. */
    static RunEvents none() {
        return new RunEvents() {
            @Override
            public void write(String measurement, Map<String, String> extraTags, Map<String, Object> fields,
                              long timeNanos) {
            }

            @Override
            public void close() {
            }
        };
    }
}
