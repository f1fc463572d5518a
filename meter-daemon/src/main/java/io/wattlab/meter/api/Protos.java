package io.wattlab.meter.api;

import com.google.protobuf.Duration;
import com.google.protobuf.Timestamp;
import io.wattlab.meter.daemon.MeterDaemon;
import io.wattlab.meter.ledger.ChannelEnergy;
import io.wattlab.meter.ledger.RangeEnergy;
import io.wattlab.meter.sample.Source;
import io.wattlab.meter.sampler.Sampler;
import io.wattlab.meter.sensor.SensorStatus;
import io.wattlab.meter.sink.influx.InfluxSinkStatus;
import io.wattlab.proto.v1.Channel;
import io.wattlab.proto.v1.InfluxStatus;
import io.wattlab.proto.v1.MeterStatus;
import io.wattlab.proto.v1.Sample;
import io.wattlab.proto.v1.WindowEnergy;

import java.util.HashMap;
import java.util.Map;

/** Conversions between the meter's own types and the wattlab.v1 messages. */
public final class Protos {

    private Protos() {
    }

    public static Timestamp timestamp(long epochNanos) {
        return Timestamp.newBuilder()
                .setSeconds(Math.floorDiv(epochNanos, 1_000_000_000L))
                .setNanos((int) Math.floorMod(epochNanos, 1_000_000_000L))
                .build();
    }

    public static long nanos(Timestamp t) {
        return t.getSeconds() * 1_000_000_000L + t.getNanos();
    }

    public static io.wattlab.proto.v1.Source source(Source source) {
        return switch (source) {
            case MEASURED -> io.wattlab.proto.v1.Source.SOURCE_MEASURED;
            case ESTIMATED -> io.wattlab.proto.v1.Source.SOURCE_ESTIMATED;
        };
    }

    public static Channel channel(io.wattlab.meter.sample.Channel c) {
        return Channel.newBuilder()
                .setSensor(c.sensor())
                .setDomain(c.domain())
                .setDevice(c.device())
                .setSource(source(c.source()))
                .setCountedInTotal(c.countedInTotal())
                .putAllAttributes(c.attributes())
                .build();
    }

    public static Sample sample(io.wattlab.meter.sample.Sample s) {
        return Sample.newBuilder()
                .setTime(timestamp(s.timestampNanos()))
                .setChannel(channel(s.channel()))
                .setPowerWatts(s.powerWatts())
                .setEnergyJoules(s.energyJoules())
                .build();
    }

    public static WindowEnergy windowEnergy(String id, Map<String, String> labels, RangeEnergy range) {
        WindowEnergy.Builder b = WindowEnergy.newBuilder()
                .setWindowId(id)
                .putAllLabels(labels)
                .setStart(timestamp(range.startNanos()))
                .setEnd(timestamp(range.endNanos()))
                .setDurationSeconds(range.durationSeconds())
                .setTotalEnergyJoules(range.totalEnergyJoules())
                .setAveragePowerWatts(range.averagePowerWatts())
                .setMeasuredFraction(range.measuredFraction());
        for (ChannelEnergy c : range.channels()) {
            b.addChannels(io.wattlab.proto.v1.ChannelEnergy.newBuilder()
                    .setChannel(channel(c.channel()))
                    .setEnergyJoules(c.energyJoules())
                    .setAveragePowerWatts(c.averagePowerWatts())
                    .setPeakPowerWatts(c.peakPowerWatts())
                    .setSamples(c.samples()));
        }
        return b.build();
    }

    public static MeterStatus status(MeterDaemon daemon) {
        MeterStatus.Builder b = MeterStatus.newBuilder()
                .setHost(daemon.host())
                .setRetention(Duration.newBuilder().setSeconds(daemon.retention().getSeconds()))
                .setStarted(timestamp(daemon.startedNanos()))
                .setOpenWindows(daemon.openWindows());
        Map<String, Sampler.SensorRuntime> runtimes = new HashMap<>();
        for (Sampler.SensorRuntime r : daemon.runtimes()) {
            runtimes.put(r.sensor().name(), r);
        }
        for (SensorStatus s : daemon.sensorStatuses()) {
            io.wattlab.proto.v1.SensorStatus.Builder sb = io.wattlab.proto.v1.SensorStatus.newBuilder()
                    .setSensor(s.sensor())
                    .setAvailable(s.available())
                    .setSource(source(s.source()))
                    .setMessage(s.message());
            s.channels().forEach(c -> sb.addChannels(channel(c)));
            Sampler.SensorRuntime r = runtimes.get(s.sensor());
            if (r != null) {
                sb.setConfiguredRateHertz(r.configuredRateHertz())
                        .setAchievedRateHertz(r.achievedRateHertz())
                        .setLastError(r.lastError());
            }
            b.addSensors(sb);
        }
        daemon.influxStatus().ifPresent(i -> b.setInflux(influx(i)));
        return b.build();
    }

    static InfluxStatus influx(InfluxSinkStatus s) {
        return InfluxStatus.newBuilder()
                .setUrl(s.url())
                .setDatabase(s.database())
                .setReachable(s.reachable())
                .setPointsWritten(s.pointsWritten())
                .setPointsSpooled(s.pointsSpooled())
                .setSpoolBytes(s.spoolBytes())
                .setPointsDropped(s.pointsDropped())
                .setLastError(s.lastError() == null ? "" : s.lastError())
                .build();
    }
}
