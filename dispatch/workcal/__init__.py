"""The district's work calendar (工作日历): official holidays and 调休 make-up days per year."""
