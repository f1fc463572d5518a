package io.wattlab.meter.sensor;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelFileTest {

    private static Path file(String content) throws Exception {
        Path dir = Files.createDirectories(Path.of("target", "kernel-files"));
        return Files.writeString(Files.createTempFile(dir, "counter-", ""), content);
    }

    @Test
    void readsCountersAsTheKernelAndTheFakesWriteThem() throws Exception {
        try (KernelFile plain = KernelFile.open(file("262143328850\n"), 32);
             KernelFile padded = KernelFile.open(file("00000000000000001234\n"), 32)) {
            assertEquals(262_143_328_850L, plain.readLong());
            assertEquals(1234, padded.readLong());
            assertEquals(1234, padded.readLong(), "the same descriptor reads again from the start");
        }
    }

    @Test
    void whatIsNotOneCounterIsAnErrorThatQuotesTheContent() throws Exception {
        for (String content : new String[]{"\n", "12 34\n", "-5\n", "12a\n", "99999999999999999999\n"}) {
            try (KernelFile file = KernelFile.open(file(content), 32)) {
                NumberFormatException e = assertThrows(NumberFormatException.class, file::readLong, content);
                assertTrue(e.getMessage().contains(content.strip()), e.getMessage());
            }
        }
    }
}
