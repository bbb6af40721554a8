"""How a payment to a learner is treated for tax: from the learner's classification (never the
course), whether the learner is a US person, the form on file and the program's settings.

| learner                                   | treatment                | form      | box   |
|-------------------------------------------|--------------------------|-----------|-------|
| employee, policy ``wages`` (default)      | wages (payroll)          | W-2       | wages |
| employee, policy ``prize``                | employee_prize           | 1099-MISC | 3     |
| contractor, channel partner               | nonemployee_compensation | 1099-NEC  | 1     |
| customer                                  | prize                    | 1099-MISC | 3     |
| non-US person (not an employee)           | foreign_person           | 1042-S    | -     |

A program may say its rewards pay for ``services`` (1099-NEC) or are a ``prize`` (1099-MISC
box 3) for every non-employee. A learner is a non-US person when a W-8BEN is on file, or, with
no form on file, when their country is outside the US and its territories; a W-9 makes them a
US person whatever the country says. Employees abroad are paid through local payroll (wages).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from laurel.learners.models import Classification
from laurel.tax.models import FormType, TaxForm, Treatment

# ``decide`` is pure and its arguments few: a batch of thousands of rewards asks the same
# handful of questions, so answers are cached.
US_COUNTRIES = frozenset({"US", "PR", "GU", "VI", "AS", "MP", "UM"})


@dataclass(frozen=True, slots=True)
class Decision:
    treatment: Treatment
    form_type: FormType
    box: str
    needed_form: TaxForm | None
    """The form to collect from the learner (None for wages)."""
    form_before_first: bool
    """Contractors and channel partners need the form before any reward is paid."""

    @property
    def reportable(self) -> bool:
        """Counts towards a 1099 / 1042-S threshold (wages go through payroll)."""
        return self.form_type is not FormType.w2


def is_foreign(country: str | None, form_on_file: str | None) -> bool:
    if form_on_file == TaxForm.w9:
        return False
    if form_on_file == TaxForm.w8ben:
        return True
    return country is not None and country.upper()[:2] not in US_COUNTRIES


@cache
def decide(
    *,
    classification: str,
    country: str | None,
    form_on_file: str | None,
    employee_treatment: str,
    program_income: str | None,
) -> Decision:
    foreign = is_foreign(country, form_on_file)
    if classification == Classification.employee:
        if employee_treatment != "prize":
            return Decision(Treatment.wages, FormType.w2, "wages", None, False)
        if not foreign:
            return Decision(Treatment.employee_prize, FormType.misc, "3", TaxForm.w9, False)
    first = classification in (Classification.contractor, Classification.channel_partner)
    if foreign:
        # The before-the-first-reward rule is about W-9s; a non-US person gives a W-8BEN when
        # their total reaches the threshold, like anyone else.
        return Decision(Treatment.foreign_person, FormType.s1042, "1042-S", TaxForm.w8ben, False)
    services = program_income == "services" or (program_income is None and first)
    if services:
        return Decision(Treatment.nonemployee_compensation, FormType.nec, "1", TaxForm.w9, first)
    return Decision(Treatment.prize, FormType.misc, "3", TaxForm.w9, first)
