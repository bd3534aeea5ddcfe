"""HTTP plumbing shared by the control plane and the gateway."""
