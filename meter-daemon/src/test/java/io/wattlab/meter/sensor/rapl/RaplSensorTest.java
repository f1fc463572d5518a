package io.wattlab.meter.sensor.rapl;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sensor.SensorException;
import io.wattlab.meter.sensor.SensorStatus;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RaplSensorTest {

    private static final long RANGE = 262_143_328_850L;
    private static final long T0 = 1_700_000_000_000_000_000L;
    private static final long ONE_SECOND = 1_000_000_000L;

    /** Two sockets, each with a core and a DRAM sub-zone, as on a two-socket Xeon server. */
    private static FakePowercap twoSockets() throws IOException {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 1_000_000, RANGE);
        tree.zone("intel-rapl:0:0", "core", 500_000, RANGE);
        tree.zone("intel-rapl:0:1", "dram", 200_000, RANGE);
        tree.zone("intel-rapl:1", "package-1", 3_000_000, RANGE);
        tree.zone("intel-rapl:1:0", "core", 700_000, RANGE);
        tree.zone("intel-rapl:1:1", "dram", 400_000, RANGE);
        return tree;
    }

    private static Map<String, Reading> byKey(List<Reading> readings) {
        return readings.stream().collect(Collectors.toMap(r -> r.channel().key(), Function.identity()));
    }

    @Test
    void findsBothPackagesWithTheirCoreAndDramZones() throws IOException {
        FakePowercap tree = twoSockets();
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        SensorStatus status = sensor.status();
        assertTrue(status.available());
        assertEquals("", status.message());
        assertEquals(Source.MEASURED, status.source());
        assertEquals(List.of("rapl/cpu/package-0", "rapl/core/package-0", "rapl/dram/package-0",
                        "rapl/cpu/package-1", "rapl/core/package-1", "rapl/dram/package-1"),
                status.channels().stream().map(Channel::key).toList(),
                "each sub-zone once, though it is both nested and linked flat into the root");

        Map<String, Channel> channels = status.channels().stream()
                .collect(Collectors.toMap(Channel::key, Function.identity()));
        assertTrue(channels.get("rapl/cpu/package-1").countedInTotal());
        assertTrue(channels.get("rapl/dram/package-1").countedInTotal());
        assertFalse(channels.get("rapl/core/package-1").countedInTotal(), "core is inside the package");
        assertEquals(Map.of("zone_path", tree.root.resolve("intel-rapl:1").resolve("intel-rapl:1:1").toString(),
                "zone_name", "dram"), channels.get("rapl/dram/package-1").attributes());
    }

    @Test
    void energyIsJoulesSinceTheFirstReadAndPowerIsTheLastIntervalsAverage() throws Exception {
        FakePowercap tree = twoSockets();
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        Map<String, Reading> first = byKey(sensor.read(T0));
        assertEquals(0.0, first.get("rapl/cpu/package-0").energyJoules());
        assertEquals(0.0, first.get("rapl/cpu/package-0").powerWatts());

        tree.energy("intel-rapl:0", 1_000_000 + 50_000_000);   // +50 J
        tree.energy("intel-rapl:1:1", 400_000 + 7_500_000);    // +7.5 J
        Map<String, Reading> second = byKey(sensor.read(T0 + 2 * ONE_SECOND));
        assertEquals(50.0, second.get("rapl/cpu/package-0").energyJoules(), 1e-9);
        assertEquals(25.0, second.get("rapl/cpu/package-0").powerWatts(), 1e-9);
        assertEquals(7.5, second.get("rapl/dram/package-1").energyJoules(), 1e-9);
        assertEquals(3.75, second.get("rapl/dram/package-1").powerWatts(), 1e-9);
        assertEquals(0.0, second.get("rapl/core/package-0").energyJoules(), "an idle counter adds nothing");

        tree.energy("intel-rapl:0", 1_000_000 + 50_000_000 + 5_000_000);  // +5 J in half a second
        Map<String, Reading> third = byKey(sensor.read(T0 + 2 * ONE_SECOND + ONE_SECOND / 2));
        assertEquals(55.0, third.get("rapl/cpu/package-0").energyJoules(), 1e-9);
        assertEquals(10.0, third.get("rapl/cpu/package-0").powerWatts(), 1e-9);

        // 2 ms later (a window's edge right after a scheduled read): a 0.1 J counter step over 2 ms
        // would read 50 W; the power is taken over the last two intervals instead.
        tree.energy("intel-rapl:0", 1_000_000 + 55_000_000 + 100_000);
        Map<String, Reading> fourth = byKey(sensor.read(T0 + 2 * ONE_SECOND + ONE_SECOND / 2 + 2_000_000));
        assertEquals(55.1, fourth.get("rapl/cpu/package-0").energyJoules(), 1e-9);
        assertEquals(5.1 / 0.502, fourth.get("rapl/cpu/package-0").powerWatts(), 1e-9);
    }

    @Test
    void aCounterThatWrapsIsCountedAcrossTheWrap() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 999_000_000, 1_000_000_000);  // wraps at 1000 J
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));
        sensor.read(T0);

        tree.energy("intel-rapl:0", 3_000_000);  // 1 J to the wrap, then 3 J past it
        Reading reading = sensor.read(T0 + 4 * ONE_SECOND).get(0);

        assertEquals(4.0, reading.energyJoules(), 1e-9);
        assertEquals(1.0, reading.powerWatts(), 1e-9);
    }

    @Test
    void anUnreadableEnergyFileSkipsThatZoneAndSaysWhichFileAndHowToFixIt() throws Exception {
        FakePowercap tree = twoSockets();
        // chmod 000 would not stop a test running as root; a directory cannot be read as a file by anyone.
        Path energy = tree.energyFile("intel-rapl:1");
        Files.delete(energy);
        Files.createDirectory(energy);

        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        SensorStatus status = sensor.status();
        assertTrue(status.available(), "the other zones still read");
        assertTrue(status.message().contains(energy.toString()), status.message());
        assertTrue(status.message().contains("sudo chmod o+r " + energy), status.message());
        assertTrue(status.message().contains("root"), status.message());
        assertFalse(status.channels().stream().anyMatch(c -> c.key().equals("rapl/cpu/package-1")));
        assertTrue(status.channels().stream().anyMatch(c -> c.key().equals("rapl/dram/package-1")),
                "sub-zones of a package whose own counter is unreadable are still read");
        assertEquals(5, sensor.read(T0).size());
    }

    @Test
    void noReadableZoneAtAllMakesTheSensorUnavailable() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 1, RANGE);
        Path energy = tree.energyFile("intel-rapl:0");
        Files.delete(energy);
        Files.createSymbolicLink(energy, tree.root.resolve("nowhere"));

        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        assertFalse(sensor.status().available());
        assertTrue(sensor.status().message().contains(energy.toString()), sensor.status().message());
        assertTrue(sensor.status().message().contains("symbolic link to nothing"), sensor.status().message());
        assertEquals(List.of(), sensor.read(T0));
    }

    @Test
    void aMissingRootIsUnavailableAndNamesTheRootLookedAt() throws Exception {
        Path root = FakePowercap.create().root.resolve("not-there");
        RaplSensor sensor = new RaplSensor(new RaplConfig(root));

        assertFalse(sensor.status().available());
        assertTrue(sensor.status().message().contains(root.toString()), sensor.status().message());
        assertEquals(List.of(), sensor.status().channels());
        assertEquals(List.of(), sensor.read(T0));
    }

    @Test
    void aRootWithoutRaplZonesIsUnavailable() throws Exception {
        FakePowercap tree = FakePowercap.create();
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        assertFalse(sensor.status().available());
        assertTrue(sensor.status().message().contains("no RAPL zones"), sensor.status().message());
        assertTrue(sensor.status().message().contains(tree.root.toString()), sensor.status().message());
    }

    /**
     * The sensor keeps each {@code energy_uj} open. When a driver is unloaded the kernel removes its
     * sysfs nodes and reads on descriptors still open on them fail; a regular file cannot do that, so
     * the zone's file here is a link to a kernel file that does: {@code /proc/PID/oom_score} of a
     * child process (a number, like a counter), whose reads fail once the process is gone.
     */
    @Test
    void aReadThatFailsLaterThrowsNamingTheFileLeavesTheCountersAloneAndRecoversWhenTheFileIsBack() throws Exception {
        FakePowercap tree = twoSockets();
        Path energy = tree.energyFile("intel-rapl:1:0");
        Process child = new ProcessBuilder("sleep", "60").start();
        try {
            Files.delete(energy);
            Files.createSymbolicLink(energy, Path.of("/proc", Long.toString(child.pid()), "oom_score"));
            RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));
            assertEquals(6, sensor.read(T0).size());

            child.destroy();
            child.waitFor();
            tree.energy("intel-rapl:0", 1_000_000 + 10_000_000);
            SensorException e = assertThrows(SensorException.class, () -> sensor.read(T0 + ONE_SECOND));
            assertTrue(e.getMessage().contains(energy.toString()), e.getMessage());

            // The driver is back: a new node at the same path, which the sensor opens again.
            Files.delete(energy);
            Files.writeString(energy, "700000\n");
            Map<String, Reading> after = byKey(sensor.read(T0 + 2 * ONE_SECOND));
            assertEquals(10.0, after.get("rapl/cpu/package-0").energyJoules(), 1e-9);
            assertEquals(5.0, after.get("rapl/cpu/package-0").powerWatts(), 1e-9,
                    "the failed read moved no counter, so the interval runs from the last good read");
            assertTrue(after.containsKey("rapl/core/package-1"));
        } finally {
            child.destroyForcibly();
        }
    }

    @Test
    void everyReadSeesTheCounterWrittenSinceThroughTheSameOpenFile() throws Exception {
        FakePowercap tree = twoSockets();
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));
        sensor.read(T0);
        for (int second = 1; second <= 3; second++) {
            tree.energy("intel-rapl:0:1", 200_000 + second * 2_000_000L);
            Reading dram = byKey(sensor.read(T0 + second * ONE_SECOND)).get("rapl/dram/package-0");
            assertEquals(2.0 * second, dram.energyJoules(), 1e-9);
            assertEquals(2.0, dram.powerWatts(), 1e-9);
        }
        sensor.close();
    }

    @Test
    void mmioZonesMirrorThePackageAndAreSkippedWhenMsrZonesExist() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 1, RANGE);
        tree.zone("intel-rapl-mmio:0", "package-0", 1, RANGE);
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        assertEquals(List.of(tree.root.resolve("intel-rapl:0").toString()),
                sensor.status().channels().stream().map(c -> c.attributes().get("zone_path")).toList());
    }

    @Test
    void mmioZonesAreReadWhenTheyAreAllThereIs() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl-mmio:0", "package-0", 1, RANGE);
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        assertEquals(List.of("rapl/cpu/package-0"), sensor.status().channels().stream().map(Channel::key).toList());
    }

    @Test
    void psysAndUncoreOverlapThePackageAndAreNotCountedInTotals() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("intel-rapl:0", "package-0", 1, RANGE);
        tree.zone("intel-rapl:0:0", "core", 1, RANGE);
        tree.zone("intel-rapl:0:1", "uncore", 1, RANGE);
        tree.zone("intel-rapl:1", "psys", 1, RANGE);
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));

        Map<String, Boolean> counted = sensor.status().channels().stream()
                .collect(Collectors.toMap(Channel::key, Channel::countedInTotal));
        assertEquals(Map.of("rapl/cpu/package-0", true, "rapl/core/package-0", false,
                "rapl/uncore/package-0", false, "rapl/psys/psys", false), counted);
    }

    @Test
    void amdRaplZonesAreReadLikeIntelOnes() throws Exception {
        FakePowercap tree = FakePowercap.create();
        tree.zone("amd-rapl:0", "package-0", 2_000_000, RANGE);
        tree.zone("amd-rapl:0:0", "core", 1_000_000, RANGE);
        RaplSensor sensor = new RaplSensor(new RaplConfig(tree.root));
        sensor.read(T0);
        tree.energy("amd-rapl:0:0", 4_000_000);

        Map<String, Reading> readings = byKey(sensor.read(T0 + ONE_SECOND));
        assertEquals(3.0, readings.get("rapl/core/package-0").energyJoules(), 1e-9);
        assertEquals(0.0, readings.get("rapl/cpu/package-0").energyJoules());
    }
}
