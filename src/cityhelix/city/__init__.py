"""City services on the data hub: street lighting, air, traffic, water, parks (DESIGN.md)."""
