"""Thin Lambda / ECS entry points that wire events to `app`."""
