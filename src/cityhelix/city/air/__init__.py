"""Air quality: the national VN_AQI (Decision 1459/QĐ-TCMT) per station, hourly and daily."""
