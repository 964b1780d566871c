"""The demo province: synthetic devices, a day of history and a live feed for the data hub.

Lets a fresh install show something real-looking without hardware; everything about the
place lives in `province.json`, the code only knows how to turn it into SensorThings calls.
"""
