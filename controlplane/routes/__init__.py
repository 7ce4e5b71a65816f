"""HTTP routes of the control plane, one router per resource."""
