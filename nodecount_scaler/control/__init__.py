"""The controller's moving parts: work queue, reconciler, events, leader election."""
