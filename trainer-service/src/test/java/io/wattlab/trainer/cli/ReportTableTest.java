package io.wattlab.trainer.cli;

import com.google.protobuf.Timestamp;
import io.wattlab.proto.v1.CarbonReport;
import io.wattlab.proto.v1.DomainEnergy;
import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.ModelFacts;
import io.wattlab.proto.v1.PhaseReport;
import io.wattlab.proto.v1.Run;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunState;
import io.wattlab.trainer.run.RunSpecs;
import io.wattlab.trainer.run.ScriptedExecutor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportTableTest {

    /** A run of 2 epochs: 7,200 J raw (0.002 kWh) of which 3,600 J net, on a 400 g/kWh grid. */
    static Run run() {
        EnergySummary energy = EnergySummary.newBuilder()
                .setDurationSeconds(60).setEnergyJoules(7200).setEnergyKwh(0.002)
                .setNetEnergyJoules(3600).setNetEnergyKwh(0.001)
                .setMeanPowerWatts(120).setPeakPowerWatts(180.5).setMeasuredFraction(0.75)
                .addDomains(DomainEnergy.newBuilder().setDomain("gpu").setDevice("0").setSensor("nvml")
                        .setSource("measured").setEnergyJoules(5400).setEnergyKwh(0.0015).setCountedInTotal(true))
                .addDomains(DomainEnergy.newBuilder().setDomain("ram").setDevice("").setSensor("estimate")
                        .setSource("estimated").setEnergyJoules(1800).setEnergyKwh(0.0005).setCountedInTotal(true))
                .build();
        RunReport report = RunReport.newBuilder()
                .setDurationSeconds(61.25).setIdlePowerWatts(60).setEnergy(energy)
                .addPhases(PhaseReport.newBuilder().setPhase("load")
                        .setStart(Timestamp.newBuilder().setSeconds(100)).setEnd(Timestamp.newBuilder().setSeconds(101))
                        .setEnergy(EnergySummary.newBuilder().setDurationSeconds(1).setEnergyJoules(100).setNetEnergyJoules(40)
                                .setMeanPowerWatts(100).setPeakPowerWatts(110)))
                .addPhases(PhaseReport.newBuilder().setPhase("train").setEpoch(1)
                        .setEnergy(EnergySummary.newBuilder().setDurationSeconds(30).setEnergyJoules(3550)))
                .addEpochs(EpochReport.newBuilder().setEpoch(1).setTrainLoss(1.2345).setLearningRate(0.01)
                        .setEvalLoss(1.1).setTop1(0.61).setTop5(0.9).setMacroF1(0.6).setSeconds(30).setEnergyJoules(3550).setSamples(1000))
                .addEpochs(EpochReport.newBuilder().setEpoch(2).setTrainLoss(0.5).setLearningRate(0.005)
                        .setEvalLoss(0.6).setTop1(0.9125).setTop5(0.99).setMacroF1(0.91).setSeconds(29.5).setEnergyJoules(3500).setSamples(1000))
                .setTop1(0.9125).setTop5(0.99).setMacroF1(0.91).setEvalLoss(0.6)
                .setEfficiencyTop1PerKwh(912.5)
                .setCarbon(CarbonReport.newBuilder().setGridIntensityGPerKwh(400).setRegion("DE").setSource("a table")
                        .setCo2EGrams(0.8).setNetCo2EGrams(0.4))
                .setEnergyPerEpochJoules(3600).setEnergyPer1000SamplesJoules(3600)
                .setModelBefore(ScriptedExecutor.MODEL).setModelAfter(ModelFacts.newBuilder(ScriptedExecutor.MODEL).setNonzeroParameters(136_237))
                .setTrainedModelPath("/runs/r1/model.onnx")
                .addSkippedInputs("Training/glioma/bad.jpg: not an image")
                .build();
        return Run.newBuilder().setRunId("20250101-000000-abcdef").setState(RunState.RUN_STATE_SUCCEEDED)
                .setSpec(RunSpecs.validate(ScriptedExecutor.spec(2, 1).build())).setReport(report).build();
    }

    @Test
    void theTableShowsWhatTheRunCostAndBought() {
        String table = ReportTable.render(run());
        List<String> lines = table.lines().toList();
        assertEquals("run 20250101-000000-abcdef  SUCCEEDED  resnet-cifar on synthetic, 2 epochs, cpu", lines.get(0));
        assertTrue(table.contains("duration           61.25 s\n"), table);
        assertTrue(table.contains("energy             7,200.0 J = 0.002000 kWh\n"), table);
        assertTrue(table.contains("net energy         3,600.0 J = 0.001000 kWh  (less idle 60.0 W)\n"), table);
        assertTrue(table.contains("power              mean 120.0 W, peak 180.5 W\n"), table);
        assertTrue(table.contains("measured           75 % of the energy (the rest estimated)\n"), table);
        assertTrue(table.contains("accuracy           top-1 0.9125, top-5 0.9900, macro-F1 0.9100, eval loss 0.6000\n"), table);
        assertTrue(table.contains("efficiency         912.5 top-1 per net kWh\n"), table);
        assertTrue(table.contains("CO2e               0.800 g, net 0.400 g  (400.0 g/kWh, DE, a table)\n"), table);
        assertTrue(table.contains("model after        272,474 parameters (136,237 nonzero), 40,813,184 MACs, 1,089,896 bytes\n"), table);
        assertTrue(table.contains("trained model      /runs/r1/model.onnx\n"), table);

        assertTrue(table.contains("""
                energy by domain
                  domain  device  sensor    source     in total  energy J       kWh
                  gpu     0       nvml      measured   yes        5,400.0  0.001500
                  ram             estimate  estimated  yes        1,800.0  0.000500
                """), table);
        assertTrue(table.contains("""
                phases
                  phase  epoch  seconds  energy J  net J  mean W  peak W
                  load             1.00     100.0   40.0   100.0   110.0
                  train      1    30.00   3,550.0    0.0     0.0     0.0
                """), table);
        assertTrue(table.contains("""
                epochs
                  epoch  train loss     lr  eval loss   top-1   top-5  macro-F1  seconds  energy J  samples
                      1      1.2345   0.01     1.1000  0.6100  0.9000    0.6000    30.00   3,550.0     1000
                      2      0.5000  0.005     0.6000  0.9125  0.9900    0.9100    29.50   3,500.0     1000
                """), table);
        assertTrue(table.endsWith("skipped inputs (1)\n  Training/glioma/bad.jpg: not an image\n"), table);
    }

    @Test
    void aFailedRunShowsItsErrorAndLeavesOutWhatItNeverMeasured() {
        Run failed = Run.newBuilder().setRunId("r2").setState(RunState.RUN_STATE_FAILED)
                .setSpec(RunSpecs.validate(ScriptedExecutor.spec(1, 1).build()))
                .setError("train loss is NaN at phase train, epoch 1, step 2").build();
        String table = ReportTable.render(failed);
        assertTrue(table.startsWith("run r2  FAILED  resnet-cifar on synthetic, 1 epoch, cpu\n"
                + "error: train loss is NaN at phase train, epoch 1, step 2\n"), table);
        assertFalse(table.contains("CO2e"), table);
        assertFalse(table.contains("epochs\n"), table);
        assertFalse(table.contains("model before"), table);
    }
}
