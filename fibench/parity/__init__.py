"""Parity of outputs: bit-level metrics (bitwise fraction, ULP distribution), tolerance
verdicts, backend-against-backend comparison and saved-tensor stores."""
