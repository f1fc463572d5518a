package io.wattlab.meter.daemon;

import io.micronaut.context.annotation.Bean;
import io.micronaut.context.annotation.Context;
import io.micronaut.context.annotation.Factory;
import io.micronaut.context.annotation.Requires;
import io.micronaut.context.env.Environment;
import io.wattlab.meter.config.MeterConfig;
import io.wattlab.meter.config.Settings;
import jakarta.inject.Singleton;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Builds the daemon from configuration when the service starts, so that bad settings stop start-up. */
@Factory
public class MeterFactory {

    private static final Logger LOG = LoggerFactory.getLogger(MeterFactory.class);

    @Singleton
    MeterConfig meterConfig(Environment environment) {
        return MeterConfig.from(new Settings(environment));
    }

    // A process that embeds the meter (the trainer) and is told to use a meter-daemon elsewhere
    // must not sample the same hardware a second time.
    @Context
    @Bean(preDestroy = "close")
    @Requires(missingProperty = "wattlab.meter.address")
    MeterDaemon meterDaemon(MeterConfig config) {
        MeterDaemon daemon = MeterDaemon.open(config);
        daemon.sensorStatuses().forEach(s -> LOG.info("sensor {}: {} channel(s){}", s.sensor(), s.channels().size(),
                s.message().isEmpty() ? "" : " - " + s.message()));
        config.influx().ifPresentOrElse(i -> LOG.info("writing to InfluxDB {} database {}", i.url(), i.database()),
                () -> LOG.info("no InfluxDB sink (WATTLAB_INFLUX_URL is not set)"));
        return daemon.start();
    }
}
