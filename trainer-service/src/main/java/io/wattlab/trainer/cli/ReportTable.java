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
import io.wattlab.proto.v1.RunSpec;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Writes a run's report as plain-text tables for a terminal: what it cost, what it bought, and on what. */
public final class ReportTable {

    private ReportTable() {
    }

    /** The run's header line (id, state, what was trained) and then its report. */
    public static String render(Run run) {
        StringBuilder out = new StringBuilder();
        RunSpec spec = run.getSpec();
        String model = spec.getModel().hasOnnxPath() ? spec.getModel().getOnnxPath() : spec.getModel().getBuiltin();
        out.append("run ").append(run.getRunId()).append("  ").append(run.getState().name().replace("RUN_STATE_", ""))
                .append("  ").append(model).append(" on ").append(spec.getDataset().getFormat())
                .append(", ").append(spec.getEpochs()).append(spec.getEpochs() == 1 ? " epoch" : " epochs")
                .append(", ").append(spec.getDevice()).append('\n');
        if (!run.getError().isEmpty()) {
            out.append("error: ").append(run.getError()).append('\n');
        }
        out.append('\n').append(render(run.getReport()));
        return out.toString();
    }

    public static String render(RunReport report) {
        StringBuilder out = new StringBuilder();
        EnergySummary energy = report.getEnergy();

        Table summary = new Table();
        summary.row("duration", seconds(report.getDurationSeconds()));
        summary.row("energy", joules(energy.getEnergyJoules()) + " = " + kwh(energy.getEnergyKwh()));
        summary.row("net energy", joules(energy.getNetEnergyJoules()) + " = " + kwh(energy.getNetEnergyKwh())
                + "  (less idle " + watts(report.getIdlePowerWatts()) + ")");
        summary.row("power", "mean " + watts(energy.getMeanPowerWatts()) + ", peak " + watts(energy.getPeakPowerWatts()));
        summary.row("measured", percent(energy.getMeasuredFraction()) + " of the energy (the rest estimated)");
        summary.row("accuracy", "top-1 " + ratio(report.getTop1()) + ", top-5 " + ratio(report.getTop5())
                + ", macro-F1 " + ratio(report.getMacroF1()) + ", eval loss " + loss(report.getEvalLoss()));
        summary.row("efficiency", String.format(Locale.ROOT, "%,.1f top-1 per net kWh", report.getEfficiencyTop1PerKwh()));
        summary.row("energy per epoch", joules(report.getEnergyPerEpochJoules()));
        summary.row("per 1,000 samples", joules(report.getEnergyPer1000SamplesJoules()));
        if (report.hasCarbon()) {
            CarbonReport carbon = report.getCarbon();
            summary.row("CO2e", grams(carbon.getCo2EGrams()) + ", net " + grams(carbon.getNetCo2EGrams())
                    + String.format(Locale.ROOT, "  (%.1f g/kWh", carbon.getGridIntensityGPerKwh())
                    + (carbon.getRegion().isEmpty() ? "" : ", " + carbon.getRegion())
                    + (carbon.getSource().isEmpty() ? "" : ", " + carbon.getSource()) + ")");
        }
        if (report.hasModelBefore()) {
            summary.row("model before", facts(report.getModelBefore()));
        }
        if (report.hasModelAfter()) {
            summary.row("model after", facts(report.getModelAfter()));
        }
        if (!report.getTrainedModelPath().isEmpty()) {
            summary.row("trained model", report.getTrainedModelPath());
        }
        report.getCompressionMap().forEach((k, v) -> summary.row("compression " + k, v));
        out.append(summary);

        if (energy.getDomainsCount() > 0) {
            Table domains = new Table(5, "domain", "device", "sensor", "source", "in total", "energy J", "kWh");
            for (DomainEnergy d : energy.getDomainsList()) {
                domains.row(d.getDomain(), d.getDevice(), d.getSensor(), d.getSource(), d.getCountedInTotal() ? "yes" : "no",
                        number1(d.getEnergyJoules()), kwhNumber(d.getEnergyKwh()));
            }
            out.append("\nenergy by domain\n").append(domains);
        }
        if (report.getPhasesCount() > 0) {
            Table phases = new Table(1, "phase", "epoch", "seconds", "energy J", "net J", "mean W", "peak W");
            for (PhaseReport p : report.getPhasesList()) {
                EnergySummary e = p.getEnergy();
                phases.row(p.getPhase(), p.getEpoch() == 0 ? "" : Integer.toString(p.getEpoch()),
                        String.format(Locale.ROOT, "%.2f", phaseSeconds(p)), number1(e.getEnergyJoules()),
                        number1(e.getNetEnergyJoules()), number1(e.getMeanPowerWatts()), number1(e.getPeakPowerWatts()));
            }
            out.append("\nphases\n").append(phases);
        }
        if (report.getEpochsCount() > 0) {
            Table epochs = new Table(0, "epoch", "train loss", "lr", "eval loss", "top-1", "top-5", "macro-F1",
                    "seconds", "energy J", "samples");
            for (EpochReport e : report.getEpochsList()) {
                epochs.row(Integer.toString(e.getEpoch()), loss(e.getTrainLoss()), plain(e.getLearningRate()),
                        loss(e.getEvalLoss()), ratio(e.getTop1()), ratio(e.getTop5()), ratio(e.getMacroF1()),
                        String.format(Locale.ROOT, "%.2f", e.getSeconds()), number1(e.getEnergyJoules()),
                        Long.toString(e.getSamples()));
            }
            out.append("\nepochs\n").append(epochs);
        }
        if (report.getSkippedInputsCount() > 0) {
            out.append("\nskipped inputs (").append(report.getSkippedInputsCount()).append(")\n");
            report.getSkippedInputsList().forEach(s -> out.append("  ").append(s).append('\n'));
        }
        return out.toString();
    }

    private static double phaseSeconds(PhaseReport p) {
        if (p.getEnergy().getDurationSeconds() > 0 || !p.hasStart() || !p.hasEnd()) {
            return p.getEnergy().getDurationSeconds();
        }
        return seconds(p.getEnd()) - seconds(p.getStart());
    }

    private static double seconds(Timestamp t) {
        return t.getSeconds() + t.getNanos() / 1e9;
    }

    private static String facts(ModelFacts m) {
        return String.format(Locale.ROOT, "%,d parameters (%,d nonzero), %,d MACs, %,d bytes",
                m.getParameters(), m.getNonzeroParameters(), m.getMacs(), m.getBytes());
    }

    private static String seconds(double s) {
        return String.format(Locale.ROOT, "%.2f s", s);
    }

    private static String joules(double j) {
        return String.format(Locale.ROOT, "%,.1f J", j);
    }

    private static String kwh(double kwh) {
        return kwhNumber(kwh) + " kWh";
    }

    /** To the micro-kWh (3.6 J), since the kWh of a training run are small; the joules beside them are exact. */
    private static String kwhNumber(double kwh) {
        return String.format(Locale.ROOT, "%.6f", kwh);
    }

    private static String watts(double w) {
        return String.format(Locale.ROOT, "%.1f W", w);
    }

    private static String grams(double g) {
        return String.format(Locale.ROOT, "%.3f g", g);
    }

    private static String percent(double fraction) {
        return String.format(Locale.ROOT, "%.0f %%", fraction * 100);
    }

    private static String ratio(double r) {
        return String.format(Locale.ROOT, "%.4f", r);
    }

    private static String loss(double x) {
        return String.format(Locale.ROOT, "%.4f", x);
    }

    /** A number as it was given, such as a learning rate of 0.005 or 0.0001. */
    private static String plain(double x) {
        if (Double.isNaN(x) || Double.isInfinite(x)) {
            return Double.toString(x);
        }
        return new BigDecimal(Double.toString(x)).stripTrailingZeros().toPlainString();
    }

    private static String number1(double x) {
        return String.format(Locale.ROOT, "%,.1f", x);
    }

    /** Columns padded to their widest cell: text to the left, numbers (from one column on) to the right. */
    private static final class Table {

        private final boolean header;
        private final int firstNumberColumn;
        private final List<String[]> rows = new ArrayList<>();

        /** Two columns of names and values, no header. */
        Table() {
            this.header = false;
            this.firstNumberColumn = Integer.MAX_VALUE;
        }

        Table(int firstNumberColumn, String... columns) {
            this.header = true;
            this.firstNumberColumn = firstNumberColumn;
            rows.add(columns);
        }

        void row(String... cells) {
            rows.add(cells);
        }

        @Override
        public String toString() {
            int columns = rows.stream().mapToInt(r -> r.length).max().orElse(0);
            int[] width = new int[columns];
            for (String[] row : rows) {
                for (int c = 0; c < row.length; c++) {
                    width[c] = Math.max(width[c], row[c].length());
                }
            }
            StringBuilder out = new StringBuilder();
            for (int r = 0; r < rows.size(); r++) {
                String[] row = rows.get(r);
                StringBuilder line = new StringBuilder(header ? "  " : "");
                for (int c = 0; c < row.length; c++) {
                    String padding = " ".repeat(width[c] - row[c].length());
                    String cell = c >= firstNumberColumn ? padding + row[c] : row[c] + padding;
                    line.append(c == 0 ? "" : "  ").append(cell);
                }
                out.append(line.toString().stripTrailing()).append('\n');
            }
            return out.toString();
        }
    }
}
