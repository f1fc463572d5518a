package io.wattlab.trainer.carbon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import org.junit.jupiter.api.Test;

class CarbonIntensitiesTest {

  private static final CarbonIntensities TABLE = CarbonIntensities.shipped();

  @Test
  void shippedTableHasItsSourceAndPublishedFigures() {
    assertTrue(TABLE.entries().size() > 200, "Ember covers over 200 countries");
    assertTrue(TABLE.source().contains("Ember") && TABLE.source().contains("co2.js"), TABLE.source());
    // Figures as in the source snapshot (Ember via co2.js, 2025-08-03).
    CarbonIntensities.Entry france = TABLE.lookup("FR").orElseThrow();
    assertEquals("France", france.country());
    assertEquals(44.18, france.gramsCo2ePerKwh());
    assertEquals(2024, france.year());
    assertEquals(342.06, TABLE.lookup("de").orElseThrow().gramsCo2ePerKwh());
    assertEquals(383.55, TABLE.lookup("United States").orElseThrow().gramsCo2ePerKwh());
    assertEquals(708.96, TABLE.lookup(" in ").orElseThrow().gramsCo2ePerKwh());
    assertTrue(TABLE.lookup("FR").orElseThrow().source().contains("Ember"));
    for (CarbonIntensities.Entry e : TABLE.entries()) {
      assertTrue(e.year() >= 2022 && e.year() <= 2024, e.toString());
    }
  }

  @Test
  void convertsEnergyToGrams() {
    assertEquals(0.5 * 44.18, TABLE.require("FR").gramsCo2e(0.5), 1e-12);
  }

  @Test
  void unknownRegionIsEmptyOrAnErrorThatSaysWhereTheTableIs() {
    assertTrue(TABLE.lookup("Atlantis").isEmpty());
    assertTrue(TABLE.lookup("").isEmpty());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TABLE.require("XX"));
    assertTrue(e.getMessage().contains("'XX'") && e.getMessage().contains("docs/carbon.md")
        && e.getMessage().contains("grid-intensity.csv"), e.getMessage());
  }

  @Test
  void parsesQuotedNamesAndComments() throws Exception {
    CarbonIntensities t = CarbonIntensities.parse(new StringReader("""
        # Test source, 2024
        # second line

        code,country,g_co2e_per_kwh,year
        KR,"Korea, Republic of",430.5,2023
        no,Norway,30,2024
        """), "test.csv");
    assertEquals("Test source, 2024 second line", t.source());
    assertEquals("Korea, Republic of", t.require("kr").country());
    assertEquals(30.0, t.require("NO").gramsCo2ePerKwh());
  }

  @Test
  void malformedTablesNameTheLine() {
    assertMessage("# s\ncode,country,g_co2e_per_kwh,year\nDE,Germany,abc,2024\n", "line 3");
    assertMessage("# s\ncode,country,g_co2e_per_kwh,year\nDEU,Germany,300,2024\n", "alpha-2");
    assertMessage("# s\ncode,country,g_co2e_per_kwh,year\nDE,Germany,300,2024\nDE,Germany,301,2024\n", "twice");
    assertMessage("# s\ncode,country,grams,year\n", "expected the header");
    assertMessage("code,country,g_co2e_per_kwh,year\nDE,Germany,300,2024\n", "source");
    assertMessage("# s\ncode,country,g_co2e_per_kwh,year\nDE,Germany,-3,2024\n", "outside");
  }

  private static void assertMessage(String csv, String part) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CarbonIntensities.parse(new StringReader(csv), "t.csv"));
    assertTrue(e.getMessage().contains(part), e.getMessage());
  }
}
