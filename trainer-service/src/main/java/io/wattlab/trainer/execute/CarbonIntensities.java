package io.wattlab.trainer.execute;

import java.util.Optional;

/** Grid carbon intensity by region (ISO 3166-1 alpha-2), from a table whose source is named. */
public interface CarbonIntensities {

    /**
     * @param gramsPerKwh grams of CO2e per kWh
     * @param region      the region asked for, or empty for an intensity given directly
     * @param source      where the figure comes from
     */
    record GridIntensity(double gramsPerKwh, String region, String source) {
    }

    Optional<GridIntensity> lookup(String region);

    /** No table: a run that names a region gets no carbon figures. */
    static CarbonIntensities none() {
        return region -> Optional.empty();
    }
}
