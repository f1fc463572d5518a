package io.wattlab.trainer.run;

/** No run has the id asked for. */
public class UnknownRunException extends Exception {

    public UnknownRunException(String runId) {
        super("run_id '" + runId + "': no such run");
    }
}
