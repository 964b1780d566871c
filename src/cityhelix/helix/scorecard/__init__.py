"""The smart-city scorecard: indicators as data (`indicators.json`), computed from the
platform's own data through the pillars' services or entered by hand, kept per period
with their provenance and data quality."""
