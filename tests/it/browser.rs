//! Real-browser test placeholder module; filled below.
