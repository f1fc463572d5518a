package io.wattlab.meter.sensor.rapl;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Source;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * One powercap zone found under the root, with what is needed to read it.
 *
 * @param id                    the zone's directory name, {@code intel-rapl:0} or {@code intel-rapl:0:1}
 * @param directory             the zone's directory
 * @param name                  the zone's {@code name} file: {@code package-0}, {@code core}, {@code uncore},
 *                              {@code dram}, {@code psys}
 * @param parentName            the {@code name} of the enclosing top-level zone, or null for a top-level zone
 * @param maxEnergyRangeMicrojoules the value at which {@code energy_uj} wraps to zero
 */
record RaplZone(String id, Path directory, String name, String parentName, long maxEnergyRangeMicrojoules) {

    Path energyFile() {
        return directory.resolve("energy_uj");
    }

    /** The channel this zone feeds; the domain follows the zone's name, not its position in the tree. */
    Channel channel() {
        String domain;
        boolean countedInTotal;
        if (name.startsWith("package")) {
            domain = "cpu";
            countedInTotal = true;
        } else if (name.equals("dram")) {
            domain = "dram";
            countedInTotal = true;
        } else {
            // core and uncore sit inside their package's budget, and psys covers the whole SoC
            // including the package: counting any of them again would count the same joules twice.
            domain = name.toLowerCase(Locale.ROOT);
            countedInTotal = false;
        }
        String device = parentName != null ? parentName : name;
        return new Channel(RaplSensor.NAME, domain, device, Source.MEASURED, countedInTotal,
                Map.of("zone_path", directory.toString(), "zone_name", name));
    }
}
