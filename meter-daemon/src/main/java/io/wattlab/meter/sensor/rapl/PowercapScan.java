package io.wattlab.meter.sensor.rapl;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Finds the RAPL zones of a powercap tree and checks that each can be read, collecting a message for
 * each zone that cannot instead of failing.
 */
final class PowercapScan {

    /** {@code intel-rapl:0}, {@code amd-rapl:1}, {@code intel-rapl-mmio:0}. */
    private static final Pattern TOP_LEVEL = Pattern.compile("(intel-rapl|amd-rapl)(-mmio)?:(\\d+)");

    /** What the scan found: the readable zones, and one line per zone that was skipped. */
    record Result(List<RaplZone> zones, List<String> problems) {
    }

    private PowercapScan() {
    }

    static Result scan(Path root) throws IOException {
        List<Path> msr = new ArrayList<>();
        List<Path> mmio = new ArrayList<>();
        try (Stream<Path> entries = Files.list(root)) {
            entries.filter(p -> TOP_LEVEL.matcher(p.getFileName().toString()).matches())
                    .filter(Files::isDirectory)
                    .sorted(Comparator.comparing((Path p) -> prefix(p)).thenComparingInt(PowercapScan::index))
                    .forEach(p -> (isMmio(p) ? mmio : msr).add(p));
        }
        // intel-rapl-mmio:0 is the package domain once more, reached through the processor's MMIO
        // registers rather than its MSRs (the kernel exposes it mainly to set power limits). Its
        // energy counter is the same package energy, so reading both would count the package twice.
        // Only where a kernel exposes no MSR zones is the MMIO copy the one to read.
        List<Path> topLevel = msr.isEmpty() ? mmio : msr;

        List<RaplZone> zones = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (Path zoneDir : topLevel) {
            RaplZone parent = probe(zoneDir, null, problems);
            if (parent != null) {
                zones.add(parent);
            }
            String parentName = parent != null ? parent.name() : readNameOrNull(zoneDir);
            for (Path subDir : subZones(root, zoneDir)) {
                RaplZone sub = probe(subDir, parentName != null ? parentName : zoneDir.getFileName().toString(),
                        problems);
                if (sub != null) {
                    zones.add(sub);
                }
            }
        }
        return new Result(List.copyOf(zones), List.copyOf(problems));
    }

    /**
     * The sub-zones of a top-level zone. The kernel nests them inside the zone's directory and also
     * links them flat into the class directory; both are looked at, and a zone seen twice is read once.
     */
    private static List<Path> subZones(Path root, Path zoneDir) throws IOException {
        String id = zoneDir.getFileName().toString();
        Pattern sub = Pattern.compile(Pattern.quote(id) + ":(\\d+)");
        Map<String, Path> byId = new LinkedHashMap<>();
        for (Path dir : List.of(zoneDir, root)) {
            try (Stream<Path> entries = Files.list(dir)) {
                entries.filter(p -> sub.matcher(p.getFileName().toString()).matches())
                        .filter(Files::isDirectory)
                        .sorted(Comparator.comparingInt(PowercapScan::index))
                        .forEach(p -> byId.putIfAbsent(p.getFileName().toString(), p));
            }
        }
        return new ArrayList<>(byId.values());
    }

    /** Reads a zone's name and range and one energy value; null, with a problem noted, if any fails. */
    private static RaplZone probe(Path zoneDir, String parentName, List<String> problems) {
        String id = zoneDir.getFileName().toString();
        Path nameFile = zoneDir.resolve("name");
        Path rangeFile = zoneDir.resolve("max_energy_range_uj");
        Path energyFile = zoneDir.resolve("energy_uj");
        String name;
        long range;
        try {
            name = Files.readString(nameFile).trim();
        } catch (IOException e) {
            problems.add("zone " + id + " skipped: cannot read " + nameFile + " (" + reason(nameFile, e) + ")");
            return null;
        }
        try {
            range = readLong(rangeFile);
        } catch (IOException | NumberFormatException e) {
            problems.add("zone " + id + " (" + name + ") skipped: cannot read " + rangeFile + " ("
                    + reason(rangeFile, e) + ")");
            return null;
        }
        try {
            readLong(energyFile);
        } catch (IOException | NumberFormatException e) {
            problems.add("zone " + id + " (" + name + ") skipped: cannot read " + energyFile + " ("
                    + reason(energyFile, e) + "). Since the fix for CVE-2020-8694 the kernel lets only root read"
                    + " energy_uj: run the meter as root, or grant read access, e.g. `sudo chmod o+r " + energyFile
                    + "` (undone at reboot) or a udev rule on SUBSYSTEM==\"powercap\" that does the same at boot;"
                    + " in a container, mount /sys/class/powercap with read access for the meter's user");
            return null;
        }
        if (range <= 0) {
            problems.add("zone " + id + " (" + name + ") skipped: " + rangeFile + " holds " + range
                    + ", so a wrap of energy_uj could not be corrected");
            return null;
        }
        return new RaplZone(id, zoneDir, name, parentName, range);
    }

    private static String readNameOrNull(Path zoneDir) {
        try {
            return Files.readString(zoneDir.resolve("name")).trim();
        } catch (IOException e) {
            return null;
        }
    }

    static long readLong(Path file) throws IOException {
        return Long.parseLong(Files.readString(file).trim());
    }

    /** Why a file could not be read, in words a user can act on. */
    static String reason(Path file, Exception e) {
        if (e instanceof NumberFormatException) {
            return "not a number: " + e.getMessage();
        }
        if (Files.isDirectory(file)) {
            return "it is a directory, not a file";
        }
        if (Files.isSymbolicLink(file) && !Files.exists(file)) {
            return "a symbolic link to nothing";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        return e.getMessage() != null ? e.getClass().getSimpleName() + ": " + e.getMessage()
                : e.getClass().getSimpleName();
    }

    private static boolean isMmio(Path zoneDir) {
        return zoneDir.getFileName().toString().contains("-mmio:");
    }

    private static String prefix(Path zoneDir) {
        String name = zoneDir.getFileName().toString();
        return name.substring(0, name.indexOf(':'));
    }

    /** The last number of a zone id, so that intel-rapl:10 sorts after intel-rapl:2. */
    private static int index(Path zoneDir) {
        Matcher m = Pattern.compile(":(\\d+)$").matcher(zoneDir.getFileName().toString());
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }
}
