package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sample.Source;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EnergyLedgerTest {

    private static final long S = 1_000_000_000L;
    private static final Channel CPU = new Channel("rapl", "cpu", "package-0", Source.MEASURED, true);
    private static final Channel CORE = new Channel("rapl", "core", "package-0", Source.MEASURED, false);
    private static final Channel RAM = new Channel("estimate", "ram", "host", Source.ESTIMATED, true);

    /** Power steps 10 W, 30 W, 20 W, one second each; cumulative energy 0, 10, 40, 60 J at t = 0..3 s. */
    private static EnergyLedger ledgerWithSteps() {
        EnergyLedger ledger = new EnergyLedger(Duration.ofHours(1));
        double[] energy = {0, 10, 40, 60};
        double[] power = {0, 10, 30, 20};
        for (int i = 0; i < energy.length; i++) {
            ledger.accept(List.of(
                    new Sample(100 * S + i * S, CPU, power[i], energy[i]),
                    new Sample(100 * S + i * S, CORE, power[i] / 2, energy[i] / 2),
                    new Sample(100 * S + i * S, RAM, 5, 5.0 * i)));
        }
        return ledger;
    }

    @Test
    void energyBetweenInstantsInterpolatesTheCumulativeCounterAtBothEdges() throws Exception {
        RangeEnergy range = ledgerWithSteps().energyBetween(100 * S + S / 2, 100 * S + 5 * S / 2);
        ChannelEnergy cpu = range.channels().stream().filter(c -> c.channel().equals(CPU)).findFirst().orElseThrow();
        // 5 J at 0.5 s, 50 J at 2.5 s
        assertEquals(45.0, cpu.energyJoules(), 1e-9);
        assertEquals(22.5, cpu.averagePowerWatts(), 1e-9);
        assertEquals(30.0, cpu.peakPowerWatts());
        assertEquals(2, cpu.samples());
        assertEquals(2.0, range.durationSeconds(), 1e-12);
    }

    @Test
    void totalsSkipDomainsContainedInOthersAndSayHowMuchWasMeasured() throws Exception {
        RangeEnergy range = ledgerWithSteps().energyBetween(100 * S, 103 * S);
        // cpu 60 J + ram 15 J; the core's 30 J are inside the package's 60 J
        assertEquals(75.0, range.totalEnergyJoules(), 1e-9);
        assertEquals(25.0, range.averagePowerWatts(), 1e-9);
        assertEquals(60.0 / 75.0, range.measuredFraction(), 1e-12);
    }

    @Test
    void aRangeOutsideWhatIsHeldIsRefusedWithTheRangeHeld() {
        EnergyLedger ledger = ledgerWithSteps();
        OutOfRetentionException before = assertThrows(OutOfRetentionException.class,
                () -> ledger.energyBetween(99 * S, 101 * S));
        assertEquals(100 * S, before.retainedStartNanos());
        assertEquals(103 * S, before.retainedEndNanos());
        assertTrue(before.getMessage().contains("1970-01-01T00:01:40Z"), before.getMessage());
        assertThrows(OutOfRetentionException.class, () -> ledger.energyBetween(101 * S, 104 * S));
        assertThrows(OutOfRetentionException.class, () -> new EnergyLedger(Duration.ofSeconds(1)).energyBetween(0, 1));
    }

    @Test
    void samplesOlderThanTheRetentionAreDroppedButTheCutoffStaysInterpolable() throws Exception {
        EnergyLedger ledger = new EnergyLedger(Duration.ofSeconds(10));
        for (int i = 0; i <= 100; i++) {
            ledger.accept(List.of(new Sample(i * S, CPU, 2, 2.0 * i)));
        }
        assertThrows(OutOfRetentionException.class, () -> ledger.energyBetween(89 * S, 100 * S));
        RangeEnergy held = ledger.energyBetween(90 * S, 100 * S);
        assertEquals(20.0, held.totalEnergyJoules(), 1e-9);
    }

    @Test
    void theRingKeepsOrderWhenItGrowsAfterWrapping() throws Exception {
        EnergyLedger ledger = new EnergyLedger(Duration.ofSeconds(500));
        // 3000 samples at 0.25 s with a 500 s retention: the ring wraps, trims and grows.
        for (int i = 0; i < 3000; i++) {
            ledger.accept(List.of(new Sample(i * S / 4, CPU, 4, 1.0 * i)));
        }
        RangeEnergy range = ledger.energyBetween(600 * S, 700 * S + S / 8);
        assertEquals(400.5, range.totalEnergyJoules(), 1e-9);
    }
}
