package io.wattlab.trainer.api;

import io.grpc.BindableService;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.micronaut.context.annotation.Bean;
import io.micronaut.context.annotation.Factory;
import io.micronaut.context.env.Environment;
import io.wattlab.meter.config.Settings;
import io.wattlab.trainer.run.RunExecutor;
import io.wattlab.trainer.run.RunScheduler;
import io.wattlab.trainer.run.TrainerConfig;
import io.wattlab.trainer.store.RunStore;
import jakarta.inject.Named;
import jakarta.inject.Singleton;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Builds the service's run store and scheduler from configuration, and adds gRPC server reflection. */
@Factory
public class TrainerFactory {

    private static final Logger LOG = LoggerFactory.getLogger(TrainerFactory.class);

    @Singleton
    TrainerConfig trainerConfig(Environment environment) {
        return TrainerConfig.from(new Settings(environment));
    }

    @Singleton
    @Bean(preDestroy = "close")
    RunStore runStore(TrainerConfig config) {
        RunStore store = RunStore.open(config.runsDir());
        LOG.info("run records in {} ({} found)", config.runsDir(), store.all().size());
        return store;
    }

    @Singleton
    @Bean(preDestroy = "close")
    RunScheduler runScheduler(RunStore store, RunExecutor executor, TrainerConfig config) {
        return new RunScheduler(store, executor, config);
    }

    /** Lets grpcurl and other tools list the services and describe their messages. */
    @Singleton
    @Named("reflection")
    BindableService reflection() {
        return ProtoReflectionServiceV1.newInstance();
    }
}
