"""The project's domains, one package each (its readers, Kedro datasets, front end,
pipeline and parameters), and the one place that lists them.

To add a domain: a package here defining ``DOMAIN`` (:class:`~irl_inr.domains.domain.Domain`)
and one line in :data:`DOMAINS`; its parameters in ``conf/base/parameters_<name>.yml`` and
its raw datasets in the catalog.  The shared stages import no domain."""

from __future__ import annotations

from irl_inr.domains import cryo_em, images, mnist_u, wm811k
from irl_inr.domains.domain import Domain

DOMAINS: dict[str, Domain] = {
    domain.name: domain for domain in (mnist_u.DOMAIN, wm811k.DOMAIN, cryo_em.DOMAIN, images.DOMAIN)
}


def get_domain(name: str) -> Domain:
    """The registered domain ``name``; an error listing them otherwise."""
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}: the domains are {sorted(DOMAINS)}")
    return DOMAINS[name]
