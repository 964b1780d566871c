"""Reads and writes of SensorThings entities through SQLAlchemy Core and the dialect seam."""
