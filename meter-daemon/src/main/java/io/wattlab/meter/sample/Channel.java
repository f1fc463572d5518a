package io.wattlab.meter.sample;

import java.util.Map;
import java.util.Objects;

/**
 * One measured quantity: a domain of one device, as seen by one sensor.
 *
 * @param sensor         the sensor that reads it: {@code nvml}, {@code rapl}, {@code estimate}
 * @param domain         {@code gpu}, {@code cpu}, {@code core}, {@code uncore}, {@code dram}, {@code psys}, {@code ram}
 * @param device         which device of that domain: a GPU index, {@code package-0}, {@code host}
 * @param source         measured by hardware or estimated
 * @param countedInTotal false where the domain is contained in another channel (RAPL core inside package),
 *                       so that totals do not count the same joules twice
 * @param attributes     free-form detail (GPU name and UUID, RAPL zone path); not part of the identity
 */
public record Channel(String sensor, String domain, String device, Source source, boolean countedInTotal,
                      Map<String, String> attributes) {

    public Channel {
        Objects.requireNonNull(sensor, "sensor");
        Objects.requireNonNull(domain, "domain");
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(source, "source");
        attributes = Map.copyOf(attributes);
    }

    public Channel(String sensor, String domain, String device, Source source, boolean countedInTotal) {
        this(sensor, domain, device, source, countedInTotal, Map.of());
    }

    /** A stable key: sensor/domain/device. */
    public String key() {
        return sensor + "/" + domain + "/" + device;
    }
}
