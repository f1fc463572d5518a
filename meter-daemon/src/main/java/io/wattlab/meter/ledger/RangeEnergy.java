package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.Source;

import java.util.List;

/**
 * The energy of every channel between two instants, and the totals over channels counted in total.
 *
 * @param startNanos the range's start, epoch nanoseconds
 * @param endNanos   the range's end, epoch nanoseconds
 * @param channels   one entry per channel that has samples in or around the range
 */
public record RangeEnergy(long startNanos, long endNanos, List<ChannelEnergy> channels) {

    public RangeEnergy {
        channels = List.copyOf(channels);
    }

    public double durationSeconds() {
        return (endNanos - startNanos) / 1e9;
    }

    /** Sum over channels whose domain is not inside another's, so nothing is counted twice. */
    public double totalEnergyJoules() {
        return channels.stream().filter(c -> c.channel().countedInTotal()).mapToDouble(ChannelEnergy::energyJoules).sum();
    }

    public double averagePowerWatts() {
        double seconds = durationSeconds();
        return seconds > 0 ? totalEnergyJoules() / seconds : 0;
    }

    /** The share of the total that came from measured channels, 0..1 (1 where the total is 0 and all are measured). */
    public double measuredFraction() {
        double total = totalEnergyJoules();
        double measured = channels.stream()
                .filter(c -> c.channel().countedInTotal() && c.channel().source() == Source.MEASURED)
                .mapToDouble(ChannelEnergy::energyJoules).sum();
        if (total > 0) {
            return measured / total;
        }
        return channels.stream().filter(c -> c.channel().countedInTotal())
                .allMatch(c -> c.channel().source() == Source.MEASURED) ? 1 : 0;
    }
}
