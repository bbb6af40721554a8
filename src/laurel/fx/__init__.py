"""Foreign exchange: reference rates with source and date, and conversions showing the fee."""
