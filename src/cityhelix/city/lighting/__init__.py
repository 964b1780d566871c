"""Smart street lighting: lamps and cabinets tasked through SensorThings Tasking, dusk/dawn
schedules, faults from readings and the energy they use."""
