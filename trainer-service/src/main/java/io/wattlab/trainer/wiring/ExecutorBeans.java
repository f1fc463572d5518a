package io.wattlab.trainer.wiring;

import io.micronaut.context.annotation.Factory;
import io.wattlab.trainer.carbon.CarbonIntensities;
import io.wattlab.trainer.execute.ModelFactsProvider;
import io.wattlab.trainer.execute.ModelSource;
import io.wattlab.trainer.model.BuiltinModelSource;
import io.wattlab.trainer.model.ModelFacts;
import jakarta.inject.Named;
import jakarta.inject.Singleton;


/** Plugs the built-in models, the shipped carbon table and the graph-walking model facts into the executor. */
@Factory
public class ExecutorBeans {

    @Singleton
    @Named("builtin")
    ModelSource builtinModels() {
        return new BuiltinModelSource();
    }

    @Singleton
    io.wattlab.trainer.execute.CarbonIntensities carbonIntensities() {
        CarbonIntensities table = CarbonIntensities.shipped();
        return region -> table.lookup(region).map(e -> new io.wattlab.trainer.execute.CarbonIntensities.GridIntensity(
                e.gramsCo2ePerKwh(), e.code(), shortSource(e.source()) + ", " + e.country() + " " + e.year()
                + " (docs/carbon.md)"));
    }

    /** The table's source line names the publisher after "Source:"; reports carry that much, the docs the rest. */
    static String shortSource(String source) {
        int at = source.indexOf("Source: ");
        String rest = at < 0 ? source : source.substring(at + "Source: ".length());
        int end = rest.indexOf(" (");
        return end < 0 ? rest : rest.substring(0, end);
    }

    @Singleton
    ModelFactsProvider modelFacts() {
        return (model, inputShape) -> {
            ModelFacts facts = ModelFacts.of(model);
            return io.wattlab.proto.v1.ModelFacts.newBuilder()
                    .setParameters(facts.parameters())
                    .setNonzeroParameters(facts.nonZeroParameters())
                    .setMacs(facts.macsPerImage())
                    .setBytes(facts.bytes())
                    .build();
        };
    }

}
