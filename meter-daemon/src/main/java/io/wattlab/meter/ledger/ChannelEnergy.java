package io.wattlab.meter.ledger;

import io.wattlab.meter.sample.Channel;

/**
 * The energy one channel used between two instants.
 *
 * @param channel           the channel
 * @param energyJoules      cumulative energy at the end minus at the start, each interpolated at its instant
 * @param averagePowerWatts energy over duration
 * @param peakPowerWatts    the highest power sampled inside the range (0 when no sample fell inside)
 * @param samples           how many samples fell inside the range, edges included
 */
public record ChannelEnergy(Channel channel, double energyJoules, double averagePowerWatts, double peakPowerWatts,
                            int samples) {
}
