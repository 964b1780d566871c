"""Water and flood: gauges' levels against their official alert levels I/II/III, the rising
rate and the time to the next level, rain intensity, and the rules that warn of floods."""
