"""Grid Dispatch (网格调度): intake, geofence routing and closed-loop tickets for a grid-governance centre."""
