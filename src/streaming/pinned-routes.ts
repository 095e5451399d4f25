// A RouteTable with exactly one container in it: what a port-forward tunnel
// (or `exec call`) routes through, so it reaches that pod's container and no
// other replica of its component. The authority is ignored: through a tunnel
// clients name `localhost`, not the component's domain.
import type { ComponentName } from '../pods/names.js';
import type { RoutableContainer, RouteTable, ServiceRoute } from '../pods/routing.js';

export function pinnedRoutes(component: ComponentName, current: () => RoutableContainer | undefined): RouteTable {
  const route = (): ServiceRoute => {
    const c = current();
    return {
      serviceKey: `${component.domain}:${component.service}`,
      domain: component.domain,
      service: component.service,
      versions: c === undefined ? [] : [{ version: c.version, containers: [c], cursor: 0 }],
    };
  };
  return {
    lookup: (_domain, service) => (service === component.service ? route() : undefined),
    runningServices: () => (current() === undefined ? [] : [route()]),
  };
}
