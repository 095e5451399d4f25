// example.com:shop.Cart@1.0.0 — typed code from cart.proto (`workd gen`, written to
// assembly/cart.gen.ts by `npm run examples`): the method takes an AddItemRequest and
// returns a CartView, or rejects with a status.
import { metadata, print, reject, Status } from "../../../sdk/assemblyscript";
import { AddItemRequest, CartService, CartView, Item, serveCart } from "./cart.gen";
export { workd_alloc } from "../../../sdk/assemblyscript";
export { AddItem } from "./cart.gen";

class ShopCart extends CartService {
  AddItem(req: AddItemRequest): CartView | null {
    const item = req.item;
    if (item === null) return reject<CartView>(Status.INVALID_ARGUMENT, "item is missing");
    if (item.quantity == 0) return reject<CartView>(Status.INVALID_ARGUMENT, "item " + item.sku + ": quantity must be at least 1");
    const view = new CartView();
    let merged = false;
    for (let i = 0; i < req.items.length; i++) {
      const it = req.items[i];
      if (it.sku == item.sku) {
        it.quantity += item.quantity;
        merged = true;
      }
      view.items.push(it);
    }
    if (!merged) view.items.push(item);
    for (let i = 0; i < view.items.length; i++) {
      view.count += view.items[i].quantity;
      view.total += <f64>view.items[i].quantity * view.items[i].price;
    }
    const who = metadata("x-user");
    print((who !== null ? who : "someone") + " added " + item.quantity.toString() + " x " + item.sku);
    return view;
  }
}

serveCart(new ShopCart());
