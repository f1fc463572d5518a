package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sample.Source;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WindowBookTest {

    private static final long S = 1_000_000_000L;
    private static final Channel GPU = new Channel("nvml", "gpu", "0", Source.MEASURED, true);

    @Test
    void aWindowIsTheCounterDifferenceBetweenItsEdgesWithPeakAndCountFromTheSamplesBetween() {
        WindowBook book = new WindowBook();
        Sample start = new Sample(10 * S, GPU, 100, 1000);
        String id = book.begin(Map.of("run_id", "r1"), 10 * S, List.of(start));
        book.accept(List.of(start)); // the sampler hands the edge sample to every sink as well
        book.accept(List.of(new Sample(11 * S, GPU, 300, 1200)));
        book.accept(List.of(new Sample(12 * S, GPU, 250, 1475)));
        Sample end = new Sample(12 * S + S / 2, GPU, 200, 1587.5);
        book.accept(List.of(end));

        WindowBook.ClosedWindow closed = book.end(id, 12 * S + S / 2, List.of(end)).orElseThrow();
        assertEquals(Map.of("run_id", "r1"), closed.labels());
        ChannelEnergy gpu = closed.energy().channels().get(0);
        assertEquals(587.5, gpu.energyJoules(), 1e-9);
        assertEquals(235.0, gpu.averagePowerWatts(), 1e-9);
        assertEquals(300.0, gpu.peakPowerWatts());
        assertEquals(4, gpu.samples());
        assertEquals(0, book.openCount());
    }

    @Test
    void anUnknownOrAlreadyEndedWindowIsEmpty() {
        WindowBook book = new WindowBook();
        Sample s = new Sample(S, GPU, 1, 1);
        String id = book.begin(Map.of(), S, List.of(s));
        assertTrue(book.end(id, 2 * S, List.of(new Sample(2 * S, GPU, 1, 2))).isPresent());
        assertTrue(book.end(id, 3 * S, List.of()).isEmpty());
        assertTrue(book.end("nope", 3 * S, List.of()).isEmpty());
    }
}
