"""Tests of alphapulse_shm against rings written by the TypeScript writer and the collector."""
