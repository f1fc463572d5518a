package io.wattlab.meter.sink.influx;

import io.micronaut.core.annotation.Nullable;

/**
 * What the InfluxDB sink has done so far and what it holds back, for the daemon's status report.
 *
 * @param url           the InfluxDB endpoint written to
 * @param database      the database written to
 * @param reachable     whether the last exchange with InfluxDB got an answer (false before the first one)
 * @param pointsWritten points InfluxDB has accepted since the sink started
 * @param pointsSpooled points waiting in the on-disk spool now
 * @param spoolBytes    size of the spool now
 * @param pointsDropped points lost since the sink started: spool bound exceeded, rejected by InfluxDB,
 *                      or the in-memory queue full; each loss is also logged as a WARN
 * @param lastError     the latest failure, or null if there was none
 */
public record InfluxSinkStatus(String url, String database, boolean reachable, long pointsWritten,
                               long pointsSpooled, long spoolBytes, long pointsDropped, @Nullable String lastError) {
}
