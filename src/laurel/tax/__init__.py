"""Tax: treatment per reward, year totals in USD, thresholds, W-9/W-8BEN collection, the tax
gate (order 200) and the exports finance files with the IRS or hands to payroll."""
