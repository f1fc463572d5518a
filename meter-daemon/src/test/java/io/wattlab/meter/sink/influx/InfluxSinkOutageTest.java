package io.wattlab.meter.sink.influx;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.MeterClock;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sample.Source;
import io.wattlab.testing.Await;
import io.wattlab.testing.InfluxServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** InfluxDB goes away for 15 s while the meter samples at 10 Hz: not one point may be lost. */
class InfluxSinkOutageTest {

    static final Channel GPU = new Channel("nvml", "gpu", "0", Source.MEASURED, true);
    static final Channel CPU = new Channel("rapl", "cpu", "package-0", Source.MEASURED, true);

    @TempDir
    Path spool;

    @Test
    void everyPointArrivesAfterA15SecondOutage() throws Exception {
        try (InfluxServer influx = InfluxServer.launch()) {
            InfluxConfig config = InfluxConfig.of(influx.url(), "outage", spool).withBatching(100, 200);
            List<Sample> produced = Collections.synchronizedList(new ArrayList<>());
            AtomicLong slowestAcceptNanos = new AtomicLong();
            AtomicBoolean producing = new AtomicBoolean(true);

            try (InfluxSink sink = new InfluxSink(config, "test-host")) {
                Thread sampler = new Thread(() -> produce(sink, produced, slowestAcceptNanos, producing), "sampler");
                sampler.start();

                TimeUnit.SECONDS.sleep(3);
                influx.stop();
                long outageStartedAt = produced.size();
                TimeUnit.SECONDS.sleep(15);
                InfluxSinkStatus during = sink.status();
                influx.start();
                TimeUnit.SECONDS.sleep(3);
                producing.set(false);
                sampler.join();

                assertFalse(during.reachable(), during.toString());
                assertTrue(during.pointsSpooled() > 0, during.toString());
                assertTrue(produced.size() - outageStartedAt >= 250, "the sampler kept going during the outage");

                long expectedPoints = 2L * produced.size();
                Await.until(Duration.ofSeconds(15), () -> sink.status().pointsWritten() == expectedPoints,
                        () -> sink.status().toString());
                InfluxSinkStatus after = sink.status();
                assertTrue(after.reachable());
                assertEquals(0, after.pointsSpooled());
                assertEquals(0, after.spoolBytes());
                assertEquals(0, after.pointsDropped());
            }
            assertTrue(slowestAcceptNanos.get() < TimeUnit.MILLISECONDS.toNanos(200),
                    "accept() must not wait for InfluxDB, but once took " + slowestAcceptNanos.get() / 1e6 + " ms");

            for (Channel channel : List.of(GPU, CPU)) {
                List<Sample> expected = produced.stream().filter(s -> s.channel().equals(channel)).toList();
                String where = " WHERE domain = '" + channel.domain() + "'";

                InfluxServer.Row totals = influx.rows("outage", "SELECT count(watts), sum(watts) FROM power" + where).get(0);
                assertEquals(expected.size(), totals.number("count"));
                // Quarter watts add up exactly in binary, whatever order InfluxDB sums them in.
                assertEquals(expected.stream().mapToDouble(Sample::powerWatts).sum(), totals.number("sum"));

                List<InfluxServer.Row> power = influx.rows("outage", "SELECT watts FROM power" + where);
                List<InfluxServer.Row> energy = influx.rows("outage", "SELECT joules FROM energy" + where);
                assertEquals(expected.stream().map(Sample::timestampNanos).toList(),
                        power.stream().map(InfluxServer.Row::timeNanos).toList(), "timestamps, in order");
                assertEquals(expected.stream().map(Sample::powerWatts).toList(),
                        power.stream().map(row -> row.number("watts")).toList());
                assertEquals(expected.stream().map(Sample::timestampNanos).toList(),
                        energy.stream().map(InfluxServer.Row::timeNanos).toList());
                assertEquals(expected.stream().map(Sample::energyJoules).toList(),
                        energy.stream().map(row -> row.number("joules")).toList(), "the cumulative counter, in order");
            }
        }
    }

    @Test
    void aHungInfluxCostsTheWriterATimeoutButNeverTheSampler() throws Exception {
        try (InfluxServer influx = InfluxServer.launch()) {
            InfluxConfig config = InfluxConfig.of(influx.url(), "hung", spool).withBatching(10, 50);
            List<Sample> produced = Collections.synchronizedList(new ArrayList<>());
            AtomicLong slowestAcceptNanos = new AtomicLong();
            AtomicBoolean producing = new AtomicBoolean(true);

            try (InfluxSink sink = new InfluxSink(config, "test-host")) {
                Thread sampler = new Thread(() -> produce(sink, produced, slowestAcceptNanos, producing), "sampler");
                sampler.start();
                TimeUnit.MILLISECONDS.sleep(500);
                influx.pause();
                // Past the read timeout, so that at least one write gives up and spools.
                TimeUnit.MILLISECONDS.sleep(InfluxSink.READ_WRITE_TIMEOUT_MILLIS + 1_500);
                InfluxSinkStatus during = sink.status();
                influx.resume();
                TimeUnit.MILLISECONDS.sleep(500);
                producing.set(false);
                sampler.join();

                assertTrue(during.pointsSpooled() > 0, during.toString());
                // OkHttp reports a read that waited too long as "timeout" (its own watchdog) or as the
                // JDK socket's "Read timed out", depending on where the hang caught the request.
                assertTrue(during.lastError().contains("timeout") || during.lastError().contains("timed out"),
                        during.lastError());
                long expectedPoints = 2L * produced.size();
                Await.until(Duration.ofSeconds(15), () -> sink.status().pointsSpooled() == 0
                        && sink.status().pointsWritten() == expectedPoints, () -> sink.status().toString());
                assertEquals(0, sink.status().pointsDropped());
            }
            assertTrue(slowestAcceptNanos.get() < TimeUnit.MILLISECONDS.toNanos(200),
                    "accept() must not wait for InfluxDB, but once took " + slowestAcceptNanos.get() / 1e6 + " ms");
            // The write that timed out may have been stored after all and then replayed from the
            // spool: InfluxDB keeps one point per series and timestamp, so the count is still exact.
            assertEquals(produced.size(), influx.rows("hung", "SELECT count(watts) FROM power").get(0).number("count"));
        }
    }

    /** The sampler: one GPU and one CPU sample every 100 ms, as the meter's sampling loop would. */
    private static void produce(InfluxSink sink, List<Sample> produced, AtomicLong slowestAcceptNanos,
                                AtomicBoolean producing) {
        MeterClock clock = new MeterClock();
        long startNanos = System.nanoTime();
        double gpuJoules = 0;
        double cpuJoules = 0;
        for (int tick = 0; producing.get(); tick++) {
            long now = clock.nowNanos();
            double gpuWatts = 100 + (tick % 37) * 0.25;
            double cpuWatts = 40 + (tick % 11) * 0.5;
            gpuJoules += gpuWatts * 0.1;
            cpuJoules += cpuWatts * 0.1;
            List<Sample> samples = List.of(new Sample(now, GPU, gpuWatts, gpuJoules), new Sample(now, CPU, cpuWatts, cpuJoules));
            produced.addAll(samples);
            long before = System.nanoTime();
            sink.accept(samples);
            slowestAcceptNanos.accumulateAndGet(System.nanoTime() - before, Math::max);
            long nextTick = startNanos + (tick + 1) * 100_000_000L;
            long sleepNanos = nextTick - System.nanoTime();
            if (sleepNanos > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(sleepNanos);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }
}
