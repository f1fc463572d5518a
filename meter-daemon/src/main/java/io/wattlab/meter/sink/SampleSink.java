package io.wattlab.meter.sink;

import io.wattlab.meter.sample.Sample;

import java.util.List;

/**
 * A consumer of samples (the InfluxDB writer, the in-memory window ledger, gRPC streams). Called on
 * the sampler's thread with the samples of one read: it must not block for long.
 */
public interface SampleSink extends AutoCloseable {

    void accept(List<Sample> samples);

    @Override
    default void close() {
    }
}
