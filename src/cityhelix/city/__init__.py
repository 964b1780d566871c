"""City services on the hub: air quality (VN_AQI), traffic and camera events, water levels
and floods, industrial parks' environmental compliance (and street lighting)."""
