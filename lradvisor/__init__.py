"""lradvisor."""
