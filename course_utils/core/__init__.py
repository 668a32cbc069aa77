"""The shared floor: argument checks, one torch thread, the training loop, the trained-model and
section registries, the small networks and the ODE solvers. Imports nothing else from the course."""
