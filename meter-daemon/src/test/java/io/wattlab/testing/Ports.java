package io.wattlab.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;

/** Loopback ports for the servers tests start. */
public final class Ports {

    private Ports() {
    }

    /** A port nothing listens on right now (another process may still take it before the test does). */
    public static int free() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
