package io.wattlab.testing;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfluxServerTest {

    @Test
    void keepsItsDataAcrossStopAndStartOnTheSamePort() {
        try (InfluxServer influx = InfluxServer.launch()) {
            assertEquals(204, ping(influx.url()));
            influx.query(null, "CREATE DATABASE survives");
            influx.write("survives", "power,domain=gpu watts=12.5 1700000000000000001");
            int port = influx.port();

            influx.stop();
            assertFalse(influx.isRunning());
            assertEquals(-1, ping(influx.url()), "nothing answers while stopped");

            influx.start();
            assertEquals(port, influx.port());
            List<InfluxServer.Row> rows = influx.rows("survives", "SELECT watts FROM power");
            assertEquals(1, rows.size());
            assertEquals(12.5, rows.get(0).number("watts"));
            assertEquals(1700000000000000001L, rows.get(0).timeNanos());
        }
    }

    @Test
    void closeStopsTheServerAndMayBeRepeated() {
        InfluxServer influx = InfluxServer.launch();
        String url = influx.url();
        influx.close();
        influx.close();
        assertFalse(influx.isRunning());
        assertEquals(-1, ping(url));
        assertThrows(IllegalStateException.class, influx::start);
    }

    @Test
    void aFailedQueryIsAnAssertionErrorNamingTheQuery() {
        try (InfluxServer influx = InfluxServer.launch()) {
            AssertionError error = assertThrows(AssertionError.class,
                    () -> influx.query("nosuchdb", "SELECT watts FROM power"));
            assertTrue(error.getMessage().contains("SELECT watts FROM power"), error.getMessage());
        }
    }

    private static int ping(String url) {
        try {
            HttpURLConnection connection = (HttpURLConnection) URI.create(url + "/ping").toURL().openConnection();
            connection.setConnectTimeout(1000);
            return connection.getResponseCode();
        } catch (IOException refused) {
            return -1;
        }
    }
}
