"""BGP-4 codec, session state machine and RIB: pure, sans-IO (DESIGN §1, §5)."""
