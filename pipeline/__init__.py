"""gammalake pipeline layer."""
