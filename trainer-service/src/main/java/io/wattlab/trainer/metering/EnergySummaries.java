package io.wattlab.trainer.metering;

import io.wattlab.proto.v1.ChannelEnergy;
import io.wattlab.proto.v1.DomainEnergy;
import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.Source;
import io.wattlab.proto.v1.WindowEnergy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a meter window into the trainer's {@link EnergySummary}: joules and kWh per channel and in
 * total, the same less idle power, provenance, mean and peak power.
 *
 * <p>Net energy is {@code raw − idlePowerWatts × duration}, clamped at 0: the idle draw is what the
 * machine would have used anyway. Peak power is the sum of each counted channel's peak sample, an
 * upper bound of the peak of the total (channels are sampled at their own instants).
 */
public final class EnergySummaries {

    public static final double JOULES_PER_KWH = 3.6e6;

    private EnergySummaries() {
    }

    public static EnergySummary of(WindowEnergy window, double idlePowerWatts) {
        double seconds = window.getDurationSeconds();
        double joules = window.getTotalEnergyJoules();
        double net = Math.max(0, joules - idlePowerWatts * seconds);
        double peak = 0;
        EnergySummary.Builder b = EnergySummary.newBuilder()
                .setDurationSeconds(seconds)
                .setEnergyJoules(joules)
                .setEnergyKwh(joules / JOULES_PER_KWH)
                .setNetEnergyJoules(net)
                .setNetEnergyKwh(net / JOULES_PER_KWH)
                .setMeanPowerWatts(seconds > 0 ? joules / seconds : 0)
                .setMeasuredFraction(window.getMeasuredFraction());
        for (ChannelEnergy c : window.getChannelsList()) {
            if (c.getChannel().getCountedInTotal()) {
                peak += c.getPeakPowerWatts();
            }
            b.addDomains(DomainEnergy.newBuilder()
                    .setDomain(c.getChannel().getDomain())
                    .setDevice(c.getChannel().getDevice())
                    .setSensor(c.getChannel().getSensor())
                    .setSource(source(c.getChannel().getSource()))
                    .setEnergyJoules(c.getEnergyJoules())
                    .setEnergyKwh(c.getEnergyJoules() / JOULES_PER_KWH)
                    .setCountedInTotal(c.getChannel().getCountedInTotal()));
        }
        return b.setPeakPowerWatts(peak).build();
    }

    /**
     * Consecutive windows taken as one: energies and durations add, domains add by
     * sensor/domain/device, the peak is the highest, the measured fraction is energy-weighted.
     */
    public static EnergySummary sum(List<EnergySummary> parts) {
        double seconds = 0;
        double joules = 0;
        double net = 0;
        double peak = 0;
        double measured = 0;
        Map<String, DomainEnergy.Builder> domains = new LinkedHashMap<>();
        for (EnergySummary p : parts) {
            seconds += p.getDurationSeconds();
            joules += p.getEnergyJoules();
            net += p.getNetEnergyJoules();
            peak = Math.max(peak, p.getPeakPowerWatts());
            measured += p.getMeasuredFraction() * p.getEnergyJoules();
            for (DomainEnergy d : p.getDomainsList()) {
                String key = d.getSensor() + "/" + d.getDomain() + "/" + d.getDevice();
                DomainEnergy.Builder into = domains.computeIfAbsent(key, k -> d.toBuilder().setEnergyJoules(0));
                into.setEnergyJoules(into.getEnergyJoules() + d.getEnergyJoules());
                into.setEnergyKwh(into.getEnergyJoules() / JOULES_PER_KWH);
            }
        }
        EnergySummary.Builder b = EnergySummary.newBuilder()
                .setDurationSeconds(seconds)
                .setEnergyJoules(joules)
                .setEnergyKwh(joules / JOULES_PER_KWH)
                .setNetEnergyJoules(net)
                .setNetEnergyKwh(net / JOULES_PER_KWH)
                .setMeanPowerWatts(seconds > 0 ? joules / seconds : 0)
                .setPeakPowerWatts(peak)
                .setMeasuredFraction(joules > 0 ? measured / joules
                        : parts.stream().allMatch(p -> p.getMeasuredFraction() == 1) && !parts.isEmpty() ? 1 : 0);
        domains.values().forEach(d -> b.addDomains(d.build()));
        return b.build();
    }

    private static String source(Source source) {
        return switch (source) {
            case SOURCE_MEASURED -> "measured";
            case SOURCE_ESTIMATED -> "estimated";
            default -> "unknown";
        };
    }
}
